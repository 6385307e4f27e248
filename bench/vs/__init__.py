"""The two sides of ``bench/vs_livekit.py``: each runs in its own interpreter (flowagents' venv,
LiveKit's venv) and answers one measurement as a JSON line."""
