# LiveKit Agents example, as the project's users write it today (reference for the
# compatibility surface: it should run on flowagents with only its import lines changed).
from flowagents import agents

class ReceptionAgent(agents.Agent):
    def __init__(self):
        super().__init__(
            instructions="You are a receptionist. Ask for user needs.",
        )
        
    @agents.function_tool
    async def transfer_to_sales(self):
        """转接到销售部门"""
        # 获取当前运行上下文
        ctx = agents.get_current_job_context()
        session = self._activity._session
        
        # 停止当前 Agent
        await session.stop()
        
        # 启动新 Agent
        await session.start(
            room=ctx.room,
            agent=SalesAgent(),
        )
        
        return "Transferring to sales..."

class SalesAgent(agents.Agent):
    def __init__(self):
        super().__init__(
            instructions="You are a sales agent. Provide product info.",
        )

async def entrypoint(ctx: agents.JobContext):
    await ctx.connect()
    
    session = agents.AgentSession(
        llm="gpt-4o",
        tts="openai-tts",
    )
    
    await session.start(
        room=ctx.room,
        agent=ReceptionAgent(),
    )

if __name__ == "__main__":
    agents.cli.run_app(
        agents.WorkerOptions(entrypoint_fnc=entrypoint)
    )
