"""Open-Sora 1.2, ported natively (see the modules; the full note follows)."""
