// documents page (in progress)
