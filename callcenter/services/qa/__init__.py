"""Quality assurance (质检): recordings, fair samples for inspectors, scorecards, appeals."""
