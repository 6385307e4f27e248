"""Provider implementations, one module each, as ``livekit.plugins`` has them.

``from flowagents.plugins import silero, whisper, llama, piper`` (the offline set; ``local``
loads all four). A plugin implements a provider interface (``flowagents.vad``, ``stt``, ``llm``,
``tts``); nodes wrap the interface, never a plugin.
"""
