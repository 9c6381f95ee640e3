"""Safety nets for accounts changed outside the services (the console's
``createsuperuser`` and ``changepassword``, Django's own password forms):
a new password still ends every token, and a new account is still on the
record. The services do both themselves, with the acting person named.
And sign-in events on the record: an account locked by django-axes."""

from axes.signals import user_locked_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from knox.models import AuthToken

from custody.models import User

# Set on an instance by the services that record the account themselves.
ON_RECORD = "_account_on_record"


@receiver(pre_save, sender=User, dispatch_uid="custody.user_password_watch")
def _note_password_change(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return  # e.g. last_login at each sign-in: no extra query
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        instance._password_replaced = True


@receiver(post_save, sender=User, dispatch_uid="custody.user_saved")
def _after_user_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if instance.__dict__.pop("_password_replaced", False):
        AuthToken.objects.filter(user=instance).delete()
    if created and not getattr(instance, ON_RECORD, False):
        from custody.services.account_record import account_event

        account_event(
            user=instance,
            actor=None,
            action="user.created",
            data={
                "username": instance.username,
                "is_superuser": instance.is_superuser,
                "is_active": instance.is_active,
                "password_set": instance.has_usable_password(),
            },
        )


@receiver(user_locked_out, dispatch_uid="custody.lockout_record")
def _record_lockout(sender, request, username, ip_address, **kwargs):
    from custody.services.signin import lockout_record

    lockout_record(
        username=username,
        address=ip_address,
        failures=getattr(request, "axes_failures_since_start", None),
    )
