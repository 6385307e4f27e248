# LiveKit Agents example, as the project's users write it today (reference for the
# compatibility surface: it should run on flowagents with only its import lines changed).
from flowagents import agents
from flowagents.plugins import openai, deepgram

async def entrypoint(ctx: agents.JobContext):
    # 连接到房间
    await ctx.connect()
    
    # 创建 Agent 会话
    session = agents.AgentSession(
        llm=openai.realtime.RealtimeModel(voice="coral"),
    )
    
    # 启动会话，传入 Agent 定义
    await session.start(
        room=ctx.room,
        agent=agents.Agent(
            instructions="You are a helpful voice AI assistant."
        )
    )
    
    # 主动生成欢迎语
    await session.generate_reply(
        instructions="Greet the user and offer your assistance."
    )

# 运行 Worker
if __name__ == "__main__":
    agents.cli.run_app(
        agents.WorkerOptions(entrypoint_fnc=entrypoint)
    )
