"""API sign-in: tokens for a username and password (and an enrolled admin's
second-factor code), and an admin unlocking a locked account."""

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import ErrorSerializer
from custody import selectors
from custody.pages.signin import lockout_response
from custody.permissions import IsAdmin
from custody.roles import ADMIN_ROLES
from custody.serializers import TokenRequestSerializer, TokenResponseSerializer
from custody.services import signin
from custody.throttling import SIGN_IN_THROTTLES, client_address


class AuthTokenView(APIView):
    """Exchange a username and password for an API token.

    Admins and superusers who enrolled a second factor on the web sign-in also
    send ``otp`` (the authenticator's code or a recovery code): a password
    alone never yields an admin token that skips it. Each admin token issued
    is a ledger event. After ``AXES_FAILURE_LIMIT`` failures (wrong passwords
    or codes, from any address) the account is locked: 403 ``account_locked``
    until an admin unlocks it."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = SIGN_IN_THROTTLES

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            403: OpenApiResponse(ErrorSerializer, description="The account is locked."),
            429: OpenApiResponse(ErrorSerializer, description="Too many sign-in attempts."),
        },
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # The request goes to authenticate(): django-axes counts failures by it.
        user = authenticate(request, username=data["username"], password=data["password"])
        if getattr(request, "axes_locked_out", False):
            return lockout_response(request)
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": [_("Unable to sign in with these credentials.")]}
            )
        second_factor = False
        if signin.needs_second_factor(user) and signin.has_second_factor(user):
            code = data.get("otp") or ""
            if not code:
                raise serializers.ValidationError(
                    {"otp": [_("This account signs in with a second-factor code as well.")]}
                )
            address = client_address(request)
            if signin.second_factor_verify(user=user, code=code, address=address) is None:
                user_login_failed.send(
                    sender=__name__, credentials={"username": user.username}, request=request
                )
                if getattr(request, "axes_locked_out", False):
                    return lockout_response(request)
                raise serializers.ValidationError({"otp": [_("That code is not valid.")]})
            second_factor = True
        # One token per sign-in: each tablet can be signed out on its own.
        instance, token = AuthToken.objects.create(user=user)
        signin.token_issued_record(
            user=user, token=instance, address=client_address(request), second_factor=second_factor
        )
        return Response({"token": token, "expiry": instance.expiry})


class UnlockView(APIView):
    """An admin ends a lockout: the account's failed sign-ins are cleared and
    the unlock is recorded. Only for accounts whose every facility the admin
    covers (a superuser: any); others are 404 if unseen, 403 if shared."""

    permission_classes = [IsAdmin]
    write_roles = ADMIN_ROLES

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "UnlockResult",
                {
                    "username": serializers.CharField(),
                    "was_locked": serializers.BooleanField(),
                    "failures_cleared": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request, username):
        user = get_object_or_404(selectors.user_list(user=request.user), username=username)
        was_locked = signin.is_locked(user)
        cleared = signin.account_unlock(user=user, by=request.user)
        return Response(
            {"username": user.username, "was_locked": was_locked, "failures_cleared": cleared}
        )
