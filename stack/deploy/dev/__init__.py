"""`stack dev`: the stack runs the app from a mounted copy that follows the user's edits."""
