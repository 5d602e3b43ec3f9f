"""The sign-in and consent pages: templates, their Russian and English texts, and rendering.

Templates are ``string.Template`` files under ``templates/``; every value is HTML-escaped unless it
is a :class:`Safe` fragment built here from escaped parts. (When the web layer brings in Jinja2,
these few pages move to it unchanged in shape.)
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse

LANGUAGES = ("ru", "en")

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "login_title": "Вход в medcard",
        "username": "Имя пользователя",
        "password": "Пароль",
        "sign_in": "Войти",
        "oidc": "Войти через портал госуслуг города",
        "totp_title": "Код подтверждения",
        "totp_hint": "Введите шестизначный код из приложения-аутентификатора.",
        "code": "Код",
        "continue": "Продолжить",
        "bad_login": "Неверное имя пользователя или пароль, или учётная запись временно заблокирована.",
        "bad_code": "Код не подошёл. Попробуйте ещё раз.",
        "no_second_factor": "Для этой учётной записи нужен второй фактор, но он не настроен. "
                            "Обратитесь к администратору.",
        "throttled": "Слишком много попыток входа. Попробуйте позже.",
        "csrf": "Форма устарела. Откройте страницу заново и повторите.",
        "account_title": "Учётная запись",
        "signed_in_as": "Вы вошли как",
        "sign_out": "Выйти",
        "signed_out": "Вы вышли из medcard.",
        "to_login": "Войти снова",
        "consent_title": "Разрешить доступ",
        "consent_intro": "Приложение просит доступ к медицинским данным от вашего имени:",
        "allow": "Разрешить",
        "deny": "Отказать",
        "choose_patient": "Чью медицинскую карту открыть приложению:",
        "own_record": "мою собственную",
        "no_patients": "Нет медицинских карт, доступных вашей учётной записи.",
        "error_title": "Ошибка",
        "bad_client": "Приложение не зарегистрировано или указан неверный адрес возврата.",
        "oidc_failed": "Вход через внешнего провайдера не удался. Попробуйте ещё раз.",
        "oidc_off": "Вход через внешнего провайдера не настроен.",
        "register_link": "Зарегистрироваться",
        "register_title": "Регистрация",
        "register": "Зарегистрироваться",
        "email": "Адрес электронной почты",
        "display_name": "Имя и фамилия",
        "password_again": "Пароль ещё раз",
        "register_hint": "Пароль — не короче 10 символов. На адрес придёт письмо с кодом подтверждения; "
                         "войти можно после того, как вы введёте код.",
        "bad_email": "Укажите правильный адрес электронной почты.",
        "bad_name": "Укажите имя (не длиннее 200 символов).",
        "short_password": "Пароль должен быть не короче 10 символов.",
        "password_mismatch": "Пароли не совпадают.",
        "mail_failed": "Не удалось отправить письмо. Попробуйте позже.",
        "verify_title": "Подтверждение адреса",
        "verify_hint": "Если этот адрес ещё не зарегистрирован, на него отправлено письмо с кодом. "
                       "Введите код: он действует 24 часа и подходит один раз.",
        "bad_email_code": "Код не подошёл или устарел. После нескольких неверных попыток код перестаёт действовать: "
                          "тогда зарегистрируйтесь снова с тем же паролем, чтобы получить новый.",
        "email_verified": "Адрес подтверждён. Теперь можно войти.",
        "mail_code_subject": "Код подтверждения medcard",
        "mail_code_body": "Здравствуйте, {name}!\n\nВаш код подтверждения адреса в medcard: {code}\n\n"
                          "Введите его на странице {url}. Код действует 24 часа и подходит один раз.\n"
                          "Если вы не регистрировались в medcard, просто удалите это письмо.\n",
        "mail_exists_subject": "Регистрация в medcard",
        "mail_exists_body": "Здравствуйте!\n\nКто-то (возможно, вы) пытался зарегистрироваться в medcard с этим "
                            "адресом, но он уже занят учётной записью или ждёт подтверждения.\n\n"
                            "Если это были вы, войдите на странице {url} или введите код из прежнего письма. "
                            "Если нет, просто удалите это письмо: вашей учётной записи ничего не угрожает.\n",
        "back": "На страницу входа",
        "scope_read": "чтение",
        "scope_write": "изменение",
        "scope_patient": "медицинская карта одного пациента",
        "scope_user": "все карты, доступные вам",
        "scope_system": "все данные (служебный доступ)",
        "scope_launch/patient": "выбор пациента при запуске",
        "scope_offline_access": "доступ, пока вы его не отзовёте",
        "scope_online_access": "доступ, пока вы в системе",
        "all_types": "все виды данных",
    },
    "en": {
        "login_title": "Sign in to medcard",
        "username": "Username",
        "password": "Password",
        "sign_in": "Sign in",
        "oidc": "Sign in through the city portal",
        "totp_title": "Confirmation code",
        "totp_hint": "Enter the six-digit code from your authenticator app.",
        "code": "Code",
        "continue": "Continue",
        "bad_login": "The username or the password is wrong, or the account is locked for a while.",
        "bad_code": "The code did not match. Try again.",
        "no_second_factor": "This account needs a second factor, which is not set up. Ask an administrator.",
        "throttled": "Too many sign-in attempts. Try again later.",
        "csrf": "The form has expired. Open the page again and retry.",
        "account_title": "Account",
        "signed_in_as": "You are signed in as",
        "sign_out": "Sign out",
        "signed_out": "You have signed out of medcard.",
        "to_login": "Sign in again",
        "consent_title": "Allow access",
        "consent_intro": "An app asks to access health records on your behalf:",
        "allow": "Allow",
        "deny": "Deny",
        "choose_patient": "Whose record the app may open:",
        "own_record": "my own",
        "no_patients": "No records are available to your account.",
        "error_title": "Error",
        "bad_client": "The app is not registered, or its return address is wrong.",
        "oidc_failed": "Signing in through the external provider failed. Try again.",
        "oidc_off": "Signing in through an external provider is not set up.",
        "register_link": "Create an account",
        "register_title": "Create an account",
        "register": "Register",
        "email": "E-mail address",
        "display_name": "Your name",
        "password_again": "Password again",
        "register_hint": "The password needs at least 10 characters. A code will be sent to the address; you can "
                         "sign in once you have entered it.",
        "bad_email": "Enter a valid e-mail address.",
        "bad_name": "Enter your name (at most 200 characters).",
        "short_password": "The password needs at least 10 characters.",
        "password_mismatch": "The passwords differ.",
        "mail_failed": "The message could not be sent. Try again later.",
        "verify_title": "Confirm your address",
        "verify_hint": "If this address is not registered yet, a message with a code was sent to it. "
                       "Enter the code: it works once, for 24 hours.",
        "bad_email_code": "The code did not match or has expired. After several wrong tries the code stops working: "
                          "register again with the same password to get a new one.",
        "email_verified": "Your address is confirmed. You can sign in now.",
        "mail_code_subject": "Your medcard confirmation code",
        "mail_code_body": "Hello {name},\n\nYour medcard address confirmation code: {code}\n\n"
                          "Enter it at {url}. The code works once, for 24 hours.\n"
                          "If you did not register with medcard, delete this message.\n",
        "mail_exists_subject": "Registering with medcard",
        "mail_exists_body": "Hello,\n\nSomeone (perhaps you) tried to register with medcard using this address, "
                            "which already has an account or one awaiting confirmation.\n\n"
                            "If it was you, sign in at {url}, or enter the code from the earlier message. "
                            "If not, delete this message: your account is not affected.\n",
        "back": "To the sign-in page",
        "scope_read": "read",
        "scope_write": "change",
        "scope_patient": "one patient's record",
        "scope_user": "every record you may see",
        "scope_system": "all data (service access)",
        "scope_launch/patient": "choose a patient at launch",
        "scope_offline_access": "access until you revoke it",
        "scope_online_access": "access while you are signed in",
        "all_types": "all kinds of data",
    },
}


class Safe(str):
    """An HTML fragment already escaped; inserted into a template as it is."""


def escape(value: object) -> str:
    return value if isinstance(value, Safe) else html.escape(str(value), quote=True)


@cache
def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("templates", name).read_text("utf-8"))


def stylesheet() -> str:
    return resources.files(__package__).joinpath("templates", "style.css").read_text("utf-8")


def language(request: Request, form: dict[str, str] | None = None) -> str:
    """``lang`` in the form or query, else the first of Accept-Language medcard speaks, else Russian."""
    chosen = (form or {}).get("lang") or request.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            ranked.append((float(q) if q else 1.0, tag.split("-")[0].lower()))
        except ValueError:
            continue
    for _, tag in sorted(ranked, key=lambda item: -item[0]):
        if tag in LANGUAGES:
            return tag
    return "ru"


def text(lang: str, key: str) -> str:
    return TEXTS[lang][key]


def fragment(template: str, lang: str, **values: object) -> Safe:
    """A template filled in: its ``$t_*`` names are the texts of the language, the rest the values."""
    context = {f"t_{k}": html.escape(v) for k, v in TEXTS[lang].items()}
    context.update({k: escape(v) for k, v in values.items()})
    context["lang"] = lang
    return Safe(_template(template).substitute(context))


def page(request: Request, lang: str, title_key: str, body: Safe, *, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """A whole page around ``body``; never cached (it carries a CSRF token or a person's name)."""
    other = "en" if lang == "ru" else "ru"
    query = {k: v for k, v in request.query_params.items() if k != "lang"} | {"lang": other}
    html_text = _template("base.html").substitute(
        lang=lang, title=html.escape(TEXTS[lang][title_key]), body=body,
        other_lang_url=html.escape(request.url.path + "?" + urlencode(query)),
        other_lang_name="English" if other == "en" else "Русский")
    return HTMLResponse(html_text, status_code=status,
                        headers={"Cache-Control": "no-store", "Content-Language": lang, **(headers or {})})


def error_block(message: str | None) -> Safe:
    return Safe(f'<p class="error" role="alert">{html.escape(message)}</p>') if message else Safe("")


def message_page(request: Request, lang: str, title_key: str, message_key: str, *, status: int = 200,
                 link: str = "/auth/login", link_key: str = "back") -> HTMLResponse:
    body = fragment("message.html", lang, message=text(lang, message_key), link=link, link_text=text(lang, link_key))
    return page(request, lang, title_key, body, status=status)
