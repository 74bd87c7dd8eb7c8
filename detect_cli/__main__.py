from detect_cli.cli.app import run

run()
