"""One protocol for long, resumable, shardable commands (``score``, ``variants``): the work directory and
its chunk loop (:mod:`.work`), and shards with their gather checks (:mod:`.shards`)."""
