"""Model cards: what one registered version was trained on, how it scored, what it does live;
as JSON (the API), a Rich table (``chainflow models card``) and a self-contained HTML page."""
