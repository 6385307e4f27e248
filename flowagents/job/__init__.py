"""What runs inside a job process: JobContext, JobProcess and get_job_context."""

from flowagents.ipc.messages import AcceptArguments
from flowagents.job.context import InferenceExecutor, JobContext, get_job_context
from flowagents.job.process import JobProcess
from flowagents.job.room_io import open_session_room  # plugs start(room=) into AgentSession

__all__ = ["AcceptArguments", "InferenceExecutor", "JobContext", "JobProcess", "get_job_context",
           "open_session_room"]
