from chainflow.cli import main

main()
