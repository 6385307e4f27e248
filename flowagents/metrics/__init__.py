"""Usage and latency metrics records."""

from .metrics import (
    AgentMetrics,
    EOUMetrics,
    LLMMetrics,
    STTMetrics,
    TTSMetrics,
    UsageCollector,
    UsageSummary,
    VADMetrics,
)

__all__ = [
    "AgentMetrics", "EOUMetrics", "LLMMetrics", "STTMetrics", "TTSMetrics", "UsageCollector",
    "UsageSummary", "VADMetrics",
]
