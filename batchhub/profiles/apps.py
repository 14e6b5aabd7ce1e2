from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "batchhub.profiles"
    label = "profiles"

    def ready(self) -> None:
        from batchhub.api.appliers import applier_register
        from batchhub.core.data.deletions import deletion_register, deletion_resolver_register
        from batchhub.core.roles import CSM, PRIVACY_ADMIN
        from batchhub.profiles.services import APPLIERS, DELETERS, deletion_subjects
        from batchhub.projects.panels import panel_register

        for kind, (apply, label) in APPLIERS.items():
            # the bare kind is what calls stored before api/0002 carry (a web process of the previous release)
            applier_register(kind, apply, label=label, aliases=(kind.removeprefix("profiles."),))
        # The project page shows the profiles count through this panel: projects cannot import profiles.
        panel_register(name="profiles", title="Profiles", url_name="profiles:panel", order=10)
        panel_register(
            name="purge", title="Inactive-profile purge", url_name="profiles:purge_panel", order=20,
            roles=(CSM, PRIVACY_ADMIN),
        )  # fmt: skip
        deletion_resolver_register(deletion_subjects)
        for name, (deleter, last, purge) in DELETERS.items():
            deletion_register(name, deleter, last=last, purge=purge)
