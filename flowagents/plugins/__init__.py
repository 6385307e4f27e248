"""Provider implementations, one module each, as ``livekit.plugins`` has them.

``from flowagents.plugins import silero, whisper, llama, piper`` (the offline set; ``local``
loads all four) and the hosted ones, each speaking its service's wire protocol over aiohttp:
``openai`` (``LLM``, ``STT``, ``TTS``; any OpenAI-compatible server by ``base_url``),
``deepgram`` (``STT``), ``cartesia`` (``TTS``) and ``elevenlabs`` (``TTS``). A plugin
implements a provider interface (``flowagents.vad``, ``stt``, ``llm``, ``tts``); nodes wrap the
interface, never a plugin.
"""
