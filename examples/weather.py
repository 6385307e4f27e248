"""A weather agent: a prewarmed VAD, one tool, preemptive generation and interruption options.

A port of LiveKit Agents' weather example. The offline models (``nodes.local.local_providers()``)
are loaded once per job process by ``prewarm`` (before any job is assigned), so a call starts
without waiting for a model; the worker and ``flowagents console`` both build the session with
``create_session`` and the agent with ``create_agent``. The LLM
starts on the user's final transcript before the turn commits (preemptive generation), and the
interruption options make the agent harder to cut off by a cough or a short "mm-hm".

Run it with ``python examples/weather.py dev`` (a worker) or
``flowagents console examples/weather.py``;
``tests/examples/test_weather.py`` runs it on the testing kit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowagents.job import JobContext, JobProcess
from flowagents.llm import RunContext, ToolError, function_tool
from flowagents.session import AgentSession
from flowagents.voice import Agent

if TYPE_CHECKING:
    from flowagents.plugins.local import LocalProviders

INSTRUCTIONS = (
    "You are a friendly voice assistant. You can look up the weather; answer in one or two "
    "short sentences, without any formatting."
)
GREETING = "Greet the user and ask which city they want the weather for."

SESSION_OPTIONS: dict[str, Any] = {
    "preemptive_generation": True,  # start the LLM on the final transcript
    "allow_interruptions": True,
    "min_interruption_duration": 0.6,  # a cough is not an interruption...
    "min_interruption_words": 1,  # ...and neither is speech with no words in it
    "false_interruption_timeout": 1.5,  # no words 1.5 s after a pause: resume speaking
    "resume_false_interruption": True,
}

# A real agent calls a weather API here; the example keeps to a table so it runs offline.
_WEATHER = {"tokyo": ("sunny", 24), "paris": ("cloudy", 15), "london": ("rainy", 12)}


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions=GREETING)

    @function_tool
    async def lookup_weather(self, context: RunContext[None], location: str) -> dict[str, Any]:
        """Look up the current weather in a city.

        Args:
            location: The city, for example "Tokyo".
        """
        found = _WEATHER.get(location.strip().lower())
        if found is None:
            raise ToolError(f"No weather for {location}; ask the user for another city.")
        weather, celsius = found
        return {"location": location, "weather": weather, "temperature_celsius": celsius}


def create_agent() -> Agent:
    return WeatherAgent()


def create_session(providers: LocalProviders) -> AgentSession:
    """The session on the offline models, with this example's turn options."""
    return AgentSession(**providers.session_kwargs(), **SESSION_OPTIONS)


def prewarm(proc: JobProcess) -> None:
    """Load the four offline models once per job process, before a job arrives."""
    from flowagents.plugins.local import local_providers

    proc.userdata["providers"] = local_providers()


async def entrypoint(ctx: JobContext) -> None:
    from flowagents.job.room_io import room_session_io

    await ctx.connect()
    session = create_session(ctx.proc.userdata["providers"])
    room_io = await room_session_io(ctx.room, session=session)
    await session.start(agent=create_agent(), io=room_io.io)


if __name__ == "__main__":
    from flowagents.cli import run_app
    from flowagents.worker import WorkerOptions

    run_app(WorkerOptions(entrypoint_fnc=entrypoint, prewarm_fnc=prewarm))
