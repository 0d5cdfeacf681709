"""Rules shared by every host-side tool (lampctl, simulator, collector): one definition each."""
