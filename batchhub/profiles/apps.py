from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "batchhub.profiles"
    label = "profiles"

    def ready(self) -> None:
        from batchhub.projects.panels import panel_register

        # The project page shows the profiles count through this panel: projects cannot import profiles.
        panel_register(name="profiles", title="Profiles", url_name="profiles:panel", order=10)
