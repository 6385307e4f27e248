"""Audio-side nodes: VAD, the VAD gate, the deaf gate, STT, resampling and chunking."""
