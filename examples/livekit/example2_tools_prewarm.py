# LiveKit Agents example, as the project's users write it today (reference for the
# compatibility surface: it should run on flowagents with only its import lines changed).
from flowagents import agents
from flowagents.agents import llm
from flowagents.plugins import openai, deepgram, cartesia, silero

# 定义工具函数
@agents.function_tool
async def get_weather(location: str):
    """获取指定地点的天气"""
    # 实际业务逻辑
    return f"{location} is sunny, 25°C"

# 预热函数（在进程启动时执行一次）
def prewarm(proc: agents.JobProcess):
    # 加载 VAD 模型到进程缓存
    proc.userdata["vad"] = silero.VAD.load()

async def entrypoint(ctx: agents.JobContext):
    await ctx.connect()
    
    session = agents.AgentSession(
        # 使用预热的 VAD
        vad=ctx.proc.userdata["vad"],
        # 组合不同提供商的组件
        stt=deepgram.STT(model="nova-3", language="multi"),
        llm=openai.LLM(model="gpt-4o-mini"),
        tts=cartesia.TTS(voice="male-conversational"),
        # 启用预生成优化
        preemptive_generation=True,
        # 打断配置
        min_interruption_duration=0.2,
        false_interruption_timeout=1.0,
    )
    
    # 定义自定义 Agent
    class WeatherAgent(agents.Agent):
        def __init__(self):
            super().__init__(
                instructions="You are a weather assistant.",
                # 注册工具
                tools=[get_weather],
            )
    
    await session.start(
        room=ctx.room,
        agent=WeatherAgent(),
    )

if __name__ == "__main__":
    agents.cli.run_app(
        agents.WorkerOptions(
            entrypoint_fnc=entrypoint,
            prewarm_fnc=prewarm,
        )
    )
