// editor page (in progress)
