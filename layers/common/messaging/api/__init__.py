"""SendFunction's HTTP side: its composition root, its routes by use case, and its error answers."""
