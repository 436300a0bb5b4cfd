from bordercast.cli import main

main()
