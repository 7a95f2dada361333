from fseval.cli import main

main()
