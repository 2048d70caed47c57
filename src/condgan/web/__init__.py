"""The web demo: `condgan serve` (app.py builds the Gradio page, views.py makes its pictures)."""
