"""The shared Locust journey that every stage's locustfile.py load-tests its stage with."""
