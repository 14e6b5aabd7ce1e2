"""factory_boy factories for the domain models; services stay the way tests change state."""

from __future__ import annotations

import datetime as dt
import uuid

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from batchhub.accounts.models import Partner, User
from batchhub.campaigns.models import Campaign, CampaignMessage
from batchhub.connectors.models import Connector, ConnectorKey, Destination, InAppEvent, PushEvent, Source
from batchhub.core.roles import PARTNER
from batchhub.profiles.models import Installation, Profile, ProfileEvent
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey

PASSWORD = "correct-horse-battery"


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    kind = Partner.Kind.MARKETING_AUTOMATION


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = "Test"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
        if create:
            self.save()

    @classmethod
    def partner_user(cls, partner: Partner | None = None, **kwargs) -> User:
        return cls(partner=partner or PartnerFactory(), role=PARTNER, **kwargs)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Customer {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project; `customer` may be given as a company name (each project gets its own customer otherwise)."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    customer = factory.SubFactory(CustomerFactory)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        if isinstance(kwargs.get("customer"), str):
            kwargs["customer"] = CustomerFactory(name=kwargs["customer"])
        return kwargs


class RestApiKeyFactory(factory.django.DjangoModelFactory):
    """A company-wide REST key of the customer (pass `project` to narrow it)."""

    class Meta:
        model = RestApiKey

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Key {n}")


def company_rest_key(project: Project) -> str:
    """The plaintext of a working company-wide REST key of the project's customer (made on first use)."""
    now = timezone.now()
    for key in RestApiKey.objects.filter(customer_id=project.customer_id, project__isnull=True):
        if key.is_active_at(now):
            return key.secret.reveal()
    return RestApiKeyFactory(customer=project.customer).secret.reveal()


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = App

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"App{n}")
    platform = App.Platform.IOS


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectGrant

    project = factory.SubFactory(ProjectFactory)
    partner = factory.SubFactory(PartnerFactory)


class ConnectorFactory(factory.django.DjangoModelFactory):
    """A connector of a partner on a project (grant them first: the factory does not)."""

    class Meta:
        model = Connector

    partner = factory.SubFactory(PartnerFactory)
    project = factory.SubFactory(ProjectFactory)
    kind = Connector.Kind.MARKETING_AUTOMATION
    name = factory.Sequence(lambda n: f"Connector {n}")
    features = factory.LazyFunction(lambda: ["custom_data", "trigger_events"])


class ConnectorKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectorKey

    connector = factory.SubFactory(ConnectorFactory)
    name = factory.Sequence(lambda n: f"Connector key {n}")


class DestinationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Destination

    connector = factory.SubFactory(ConnectorFactory)
    name = factory.Sequence(lambda n: f"Destination {n}")
    kind = "local"
    location = factory.LazyFunction(lambda: {"path": "exports/tests"})


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    connector = factory.SubFactory(ConnectorFactory)
    name = factory.Sequence(lambda n: f"Source {n}")
    kind = "local"
    location = factory.LazyFunction(lambda: {"path": "imports/tests"})


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    project = factory.SubFactory(ProjectFactory)
    custom_id = factory.Sequence(lambda n: f"user-{n:06d}")
    email = factory.LazyAttribute(lambda o: f"{o.custom_id}@example.com" if o.custom_id else None)
    attributes = factory.LazyFunction(lambda: {"plan": "premium"})
    last_activity_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))


class ProfileEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProfileEvent

    profile = factory.SubFactory(ProfileFactory)
    name = "ue.added_to_cart"
    occurred_at = factory.LazyFunction(timezone.now)


class InstallationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Installation

    app = factory.SubFactory(AppFactory)
    installation_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    last_seen_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)


class PushEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushEvent

    installation = factory.SubFactory(InstallationFactory)
    app = factory.SelfAttribute("installation.app")
    occurred_at = factory.LazyFunction(timezone.now)
    type = PushEvent.Type.PUSH_OPENED
    source = PushEvent.Source.CAMPAIGN
    token = "campaign-token"


class InAppEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InAppEvent

    installation = factory.SubFactory(InstallationFactory)
    app = factory.SelfAttribute("installation.app")
    occurred_at = factory.LazyFunction(timezone.now)
    type = InAppEvent.Type.CLICKED
    campaign_token = "campaign-token"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Campaign.Channel.PUSH
    message = factory.RelatedFactory("tests.factories.CampaignMessageFactory", factory_related_name="campaign")


class CampaignMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignMessage

    campaign = factory.SubFactory(CampaignFactory, message=None)
    language = "default"
    title = "Hello"
    body = "World"


class ApiCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "api.ApiCall"

    project = factory.SubFactory(ProjectFactory)
    route = "events.user"
    status_code = 202
    token = factory.LazyFunction(uuid.uuid4)
    kind = "profiles.events"
    apply_status = "applied"
    created_at = factory.LazyFunction(timezone.now)
