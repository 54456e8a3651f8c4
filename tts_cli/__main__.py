from tts_cli.cli.app import main

main()
