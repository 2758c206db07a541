// history page (in progress)
