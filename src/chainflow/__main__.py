from chainflow.cli import app

app()
