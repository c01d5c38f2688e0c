from django.contrib import admin

from media.models import MediaFile, MediaGrant
from media.services import media_delete


class MediaGrantInline(admin.TabularInline):
    model = MediaGrant
    extra = 0
    readonly_fields = ["channel", "created"]
    can_delete = True


@admin.register(MediaFile)
class MediaFileAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "kind", "mime", "size", "name", "created"]
    list_filter = ["kind", "created"]
    list_select_related = ["owner"]
    search_fields = ["id", "name", "owner__username"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id", "storage_name", "mime", "size", "kind", "width", "height",
                       "duration", "created"]
    inlines = [MediaGrantInline]

    def has_add_permission(self, request) -> bool:
        return False  # files come in through POST /api/media/ only

    def delete_model(self, request, obj) -> None:
        media_delete(media=obj)

    def delete_queryset(self, request, queryset) -> None:
        for media in queryset:
            media_delete(media=media)
