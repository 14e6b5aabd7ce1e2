"""The demo world's cast: its customers, apps, partners, logins and campaigns.

Stable names and usernames here are how `seed_demo` recognises a world it already created. The passwords
are public on purpose: they are printed by `demo_credentials` and the seed refuses to run in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN
from batchhub.demo.generation import EventKind, Locale, ProjectFlavour

PARTNER_PASSWORD = "demo-partner-2026"  # noqa: S105 - a published demo password


@dataclass(frozen=True)
class DemoProject:
    slug: str
    name: str
    customer: str
    app_name: str
    flavour: ProjectFlavour


@dataclass(frozen=True)
class DemoPartner:
    name: str
    kind: str
    website: str
    project_slugs: tuple[str, ...]


# The inbound features each kind of demo partner's connector uses.
CONNECTOR_FEATURES = {
    "marketing_automation": ["custom_data", "trigger_events", "custom_audiences", "transactional"],
    "analytics_attribution": ["custom_data", "trigger_events"],
    "cdp_dmp": ["custom_data", "custom_audiences", "gdpr"],
    "location": ["trigger_events"],
}


# The daily exports each kind of demo partner takes, per app.
EXPORT_KINDS = {
    "marketing_automation": ["push_events", "inapp_events", "userbase"],
    "analytics_attribution": ["push_events", "inapp_events"],
    "cdp_dmp": ["userbase"],
    "location": [],
}


def connector_name(partner: str) -> str:
    """Each demo partner's connector on each project granted to it."""
    return f"{partner} sync"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str  # a BatchHub role, or "admin" for the superuser (who is also in the csm group)
    first_name: str
    last_name: str
    partner: str | None = None


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    channel: str
    is_live: bool
    title: str
    body: str
    deeplink: str = ""
    media_picture: str = ""


_FR = Locale("fr", "FR", "Europe/Paris", "+33", "6", ("Paris", "Lyon", "Marseille", "Lille", "Bordeaux", "Nantes"))
_DE = Locale("de", "DE", "Europe/Berlin", "+49", "15", ("Berlin", "Hamburg", "Munich", "Cologne"))
_GB = Locale("en", "GB", "Europe/London", "+44", "74", ("London", "Manchester", "Leeds", "Bristol"))
_US = Locale("en", "US", "America/New_York", "+1", "21", ("New York", "Boston", "Chicago", "Austin", "Seattle"))
_ES = Locale("es", "ES", "Europe/Madrid", "+34", "6", ("Madrid", "Barcelona", "Valencia", "Seville"))

ACME = DemoProject(
    slug="acme-retail",
    name="Acme Retail",
    customer="Acme Corp",
    app_name="AcmeShop",
    flavour=ProjectFlavour(
        custom_id_prefix="acme-user-",
        share=0.6,
        locales=((_FR, 55), (_DE, 15), (_GB, 10), (_ES, 10), (_US, 10)),
        plans=(("standard", 70), ("premium", 25), ("gold", 5)),
        interests=("sport", "travel", "fashion", "home", "tech", "beauty"),
        events=(
            EventKind("viewed_product", 40, ("shoes", "jackets", "bags", "watches", "sneakers"), has_item=True),
            EventKind("added_to_cart", 20, ("shoes", "jackets", "bags", "watches", "sneakers"), has_item=True),
            EventKind("purchase", 8, ("web", "app", "store"), has_item=True, has_amount=True),
            EventKind("search", 15, ("summer dress", "running shoes", "backpack", "gift")),
            EventKind("login", 12, ()),
            EventKind("wishlist_added", 5, ("shoes", "bags", "watches"), has_item=True),
        ),
        item_prefix="SKU-",
        currency="EUR",
        deeplink_scheme="acmeshop://",
        transactional_groups=("order-confirmation", "shipping-update", "password-reset", "back-in-stock"),
    ),
)
GLOBEX = DemoProject(
    slug="globex-media",
    name="Globex Media",
    customer="Globex",
    app_name="GlobexNews",
    flavour=ProjectFlavour(
        custom_id_prefix="globex-user-",
        share=0.4,
        locales=((_US, 45), (_GB, 25), (_FR, 15), (_DE, 15)),
        plans=(("free", 65), ("premium", 25), ("family", 10)),
        interests=("politics", "sport", "culture", "science", "business", "travel"),
        events=(
            EventKind("article_read", 45, ("politics", "sport", "culture", "science", "business"), has_item=True),
            EventKind("video_watched", 20, ("live", "replay", "short"), has_item=True),
            EventKind("newsletter_opened", 10, ("morning", "evening", "weekend")),
            EventKind("subscribed", 3, ("monthly", "yearly"), has_item=True, has_amount=True),
            EventKind("search", 10, ("election", "football", "weather", "markets")),
            EventKind("login", 12, ()),
        ),
        item_prefix="ART-",
        currency="USD",
        deeplink_scheme="globexnews://",
        transactional_groups=("breaking-alert", "subscription-receipt", "password-reset"),
    ),
)
PROJECTS = (ACME, GLOBEX)
PLATFORMS = ("ios", "android", "web")

# Each partner sees a different set of projects; Globex Media is visible to one partner only, and the CDP
# is onboarded but not granted anything yet (the "no project yet" state, and a grant to make live).
PARTNERS = (
    DemoPartner("Pushwave", "marketing_automation", "https://pushwave.example", (ACME.slug, GLOBEX.slug)),
    DemoPartner("Attribly", "analytics_attribution", "https://attribly.example", (ACME.slug,)),
    DemoPartner("DataCircle", "cdp_dmp", "https://datacircle.example", ()),
)

LOGINS = (
    DemoLogin("admin", "demo-admin-2026", "admin", "Ada", "Lovelace"),
    DemoLogin("csm", "demo-csm-2026", CSM, "Camille", "Martin"),
    DemoLogin("privacy", "demo-privacy-2026", PRIVACY_ADMIN, "Priya", "Shah"),
    DemoLogin("pushwave", PARTNER_PASSWORD, PARTNER, "Lena", "Park", partner="Pushwave"),
    DemoLogin("attribly", PARTNER_PASSWORD, PARTNER, "Tom", "Becker", partner="Attribly"),
    DemoLogin("datacircle", PARTNER_PASSWORD, PARTNER, "Sofia", "Rossi", partner="DataCircle"),
)
LOGIN_EMAIL_DOMAIN = "demo.batchhub.example"

CAMPAIGNS = {
    ACME.slug: (
        DemoCampaign(
            "Spring sale",
            "push",
            True,
            "Spring sale: -30% 🌸",
            "Three days only, on everything.",
            "acmeshop://sale/spring",
        ),
        DemoCampaign(
            "Back in stock",
            "push",
            True,
            "It's back!",
            "The item on your wishlist is back in stock.",
            "acmeshop://wishlist",
        ),
        DemoCampaign(
            "Welcome offer",
            "inapp",
            True,
            "Welcome to AcmeShop",
            "Get 10% off your first order.",
            "acmeshop://offers/welcome",
            "https://cdn.acme.example/inapp/welcome.png",
        ),
        DemoCampaign(
            "Loyalty programme",
            "inapp",
            True,
            "Join Acme Club",
            "Earn points on every purchase.",
            "acmeshop://club",
        ),
        DemoCampaign("Weekly newsletter", "email", True, "This week at Acme", "Our picks of the week."),
        DemoCampaign(
            "Abandoned cart reminder",
            "push",
            False,
            "Forgot something?",
            "Your cart is waiting for you.",
            "acmeshop://cart",
        ),
        DemoCampaign(
            "Order shipped",
            "push",
            False,
            "Your order is on its way",
            "Track your parcel in the app.",
            "acmeshop://orders",
        ),
        DemoCampaign(
            "Order confirmation",
            "email",
            False,
            "Thank you for your order",
            "We have received your order and will ship it soon.",
        ),
        DemoCampaign("Rate the app", "inapp", False, "Enjoying AcmeShop?", "Tell us with a rating."),
    ),
    GLOBEX.slug: (
        DemoCampaign("Breaking news", "push", True, "Breaking", "Follow the story live.", "globexnews://live"),
        DemoCampaign(
            "New episode",
            "push",
            True,
            "New episode available",
            "Your show is back.",
            "globexnews://shows/latest",
        ),
        DemoCampaign(
            "Try premium",
            "inapp",
            True,
            "Go premium",
            "Ad-free reading, one month free.",
            "globexnews://premium",
            "https://cdn.globex.example/inapp/premium.png",
        ),
        DemoCampaign("Weekly digest", "email", True, "Your week in review", "The stories you missed."),
        DemoCampaign(
            "Password reset",
            "push",
            False,
            "Reset your password",
            "Tap to choose a new password.",
            "globexnews://account/password",
        ),
        DemoCampaign("Welcome email", "email", False, "Welcome to Globex", "Start with our editors' picks."),
        DemoCampaign(
            "Enable notifications",
            "inapp",
            False,
            "Never miss a story",
            "Turn on notifications for breaking news.",
        ),
    ),
}

# The scenarios demo partners bound to drafts of a project (template picker): (partner, scenario, draft name), and
# the draft's message in one more language, so the picker and a transactional send show several.
TEMPLATE_BINDINGS = {
    ACME.slug: (
        ("Pushwave", "order_shipped", "Order shipped"),
        ("Pushwave", "cart_reminder", "Abandoned cart reminder"),
    ),
    GLOBEX.slug: (("Pushwave", "password_reset", "Password reset"),),
}
EXTRA_MESSAGES = {
    ("Order shipped", "fr"): ("Votre commande est en route", "Suivez votre colis dans l'app."),
    ("Password reset", "fr"): ("Réinitialisez votre mot de passe", "Touchez pour en choisir un nouveau."),
}
