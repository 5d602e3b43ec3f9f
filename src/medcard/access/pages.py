"""The sign-in and consent pages: their texts, and rendering them with the web layer's Jinja2 templates.

The templates are ``medcard/web/templates/auth/*.html`` (autoescaped; they extend the site's layout).
Texts shown from Python (errors, mail) are here, keyed by purpose; each is a gettext msgid in
Russian (the pages' source language) translated through the web layer's catalog.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from medcard.web import i18n
from medcard.web.i18n import N_
from medcard.web.render import render

LANGUAGES = i18n.LANGUAGES

MESSAGES: dict[str, str] = {
    "login_title": N_("Вход в medcard"),
    "totp_title": N_("Код подтверждения"),
    "bad_login": N_("Неверное имя пользователя или пароль, или учётная запись временно заблокирована."),
    "bad_code": N_("Код не подошёл. Попробуйте ещё раз."),
    "no_second_factor": N_("Для этой учётной записи нужен второй фактор, но он не настроен. "
        "Обратитесь к администратору."),
    "throttled": N_("Слишком много попыток входа. Попробуйте позже."),
    "csrf": N_("Форма устарела. Откройте страницу заново и повторите."),
    "account_title": N_("Учётная запись"),
    "signed_out": N_("Вы вышли из medcard."),
    "to_login": N_("Войти снова"),
    "consent_title": N_("Разрешить доступ"),
    "own_record": N_("мою собственную"),
    "no_patients": N_("Нет медицинских карт, доступных вашей учётной записи."),
    "error_title": N_("Ошибка"),
    "bad_client": N_("Приложение не зарегистрировано или указан неверный адрес возврата."),
    "oidc_failed": N_("Вход через внешнего провайдера не удался. Попробуйте ещё раз."),
    "oidc_off": N_("Вход через внешнего провайдера не настроен."),
    "register_title": N_("Регистрация"),
    "bad_email": N_("Укажите правильный адрес электронной почты."),
    "bad_name": N_("Укажите имя (не длиннее 200 символов)."),
    "short_password": N_("Пароль должен быть не короче 10 символов."),
    "password_mismatch": N_("Пароли не совпадают."),
    "mail_failed": N_("Не удалось отправить письмо. Попробуйте позже."),
    "verify_title": N_("Подтверждение адреса"),
    "bad_email_code": N_("Код не подошёл или устарел. После нескольких неверных попыток код перестаёт действовать: "
        "тогда зарегистрируйтесь снова с тем же паролем, чтобы получить новый."),
    "email_verified": N_("Адрес подтверждён. Теперь можно войти."),
    "mail_code_subject": N_("Код подтверждения medcard"),
    "mail_code_body": N_("Здравствуйте, {name}!\n\nВаш код подтверждения адреса в medcard: {code}\n\n"
        "Введите его на странице {url}. Код действует 24 часа и подходит один раз.\n"
        "Если вы не регистрировались в medcard, просто удалите это письмо.\n"),
    "mail_exists_subject": N_("Регистрация в medcard"),
    "mail_exists_body": N_("Здравствуйте!\n\nКто-то (возможно, вы) пытался зарегистрироваться в medcard с этим "
        "адресом, но он уже занят учётной записью или ждёт подтверждения.\n\n"
        "Если это были вы, войдите на странице {url} или введите код из прежнего письма. "
        "Если нет, просто удалите это письмо: вашей учётной записи ничего не угрожает.\n"),
    "back": N_("На страницу входа"),
    "scope_read": N_("чтение"),
    "scope_write": N_("изменение"),
    "scope_patient": N_("медицинская карта одного пациента"),
    "scope_user": N_("все карты, доступные вам"),
    "scope_system": N_("все данные (служебный доступ)"),
    "scope_launch/patient": N_("выбор пациента при запуске"),
    "scope_offline_access": N_("доступ, пока вы его не отзовёте"),
    "scope_online_access": N_("доступ, пока вы в системе"),
    "all_types": N_("все виды данных"),
}


def language(request: Request, form: dict[str, str] | None = None) -> str:
    """``lang`` in the form or query, else the language cookie, else Accept-Language, else Russian."""
    return i18n.language(request, form)


def text(lang: str, key: str) -> str:
    return i18n.gettext(lang, MESSAGES[key])


def page(request: Request, lang: str, title_key: str, template: str, context: dict[str, Any] | None = None, *,
         status: int = 200, error: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A sign-in page (``auth/<template>``); never cached (it carries a CSRF token or a person's name)."""
    values = {"request": request, "user": None, "csrf_token": "", "title": text(lang, title_key), "error": error}
    html_text = render("auth/" + template, values | (context or {}), lang)
    return HTMLResponse(html_text, status_code=status,
                        headers={"Cache-Control": "no-store", "Content-Language": lang, **(headers or {})})


def message_page(request: Request, lang: str, title_key: str, message_key: str, *, status: int = 200,
                 link: str = "/auth/login", link_key: str = "back") -> HTMLResponse:
    return page(request, lang, title_key, "message.html",
                {"message": text(lang, message_key), "link": link, "link_text": text(lang, link_key)}, status=status)
