from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "batchhub.projects"
    label = "projects"
