"""Speech (Vosk): voice answers in menus and surveys, transcripts and language checks."""
