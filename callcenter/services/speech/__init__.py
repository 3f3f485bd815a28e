"""Speech (Vosk): voice answers in IVR menus, transcripts of recorded calls and the
service-language checks QA inspectors would otherwise do by ear."""
