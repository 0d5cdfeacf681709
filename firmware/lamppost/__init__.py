SAFE = False  # set by boot.py when this boot runs in safe mode (lamppost.safe)
SLOT = ("", "", False)  # (flash root, slot running, on trial): otaboot.select, kept here (main.py)
