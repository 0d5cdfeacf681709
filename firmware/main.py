"""Board entry point, kept thin: everything lives in the lamppost package."""
from lamppost import app

app.main()
