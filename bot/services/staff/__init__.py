"""The staff and case lists: importing them, the demo council, finding people and checking the lines of management."""
