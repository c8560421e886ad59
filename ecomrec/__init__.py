"""ecomrec: the small library shared by the lessons, exercises and tests of the course
"Large Models for E-commerce Search & Recommendation"."""

__version__ = "0.1.0"
