"""Scheduling: the Program (tasks on units, dependencies, buffer space) and its builders."""
