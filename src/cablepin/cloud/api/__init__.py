"""The JSON API: routes only translate HTTP to service calls and back."""
