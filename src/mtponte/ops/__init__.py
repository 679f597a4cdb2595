"""Operations: the watchdog (``mtponte supervise``) and the status screen."""
