"""Class autograding on top of nbgrader: parallel, bounded, hardened against hostile notebooks.

``python -m autograder grade <assignment> --submissions <dir|zip>`` grades a class; see README.
"""
