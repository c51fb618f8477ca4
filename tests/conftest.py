"""Cross-package tests: the same contract over every adapter combination installed here."""
