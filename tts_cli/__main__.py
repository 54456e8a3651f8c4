from tts_cli.cli.main import main

main()
