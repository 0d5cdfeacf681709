SAFE = False  # set by boot.py when this boot runs in safe mode (lamppost.safe)
