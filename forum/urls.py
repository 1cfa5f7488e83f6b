from django.urls import path

from forum import views

app_name = "forum"

urlpatterns = [
    path("", views.index, name="index"),
    path("b/<slug:slug>/", views.board_detail, name="board"),
    path("b/<slug:slug>/new/", views.post_create, name="post_create"),
    path("p/<int:pk>/", views.post_detail, name="post"),
    path("p/<int:pk>/edit/", views.post_edit, name="post_edit"),
    path("p/<int:pk>/delete/", views.post_delete, name="post_delete"),
    path("p/<int:pk>/like/", views.post_like, name="post_like"),
    path("p/<int:pk>/hide/", views.post_hide, name="post_hide"),
    path("p/<int:pk>/comment/", views.comment_create, name="comment_create"),
    path("c/<int:pk>/edit/", views.comment_edit, name="comment_edit"),
    path("c/<int:pk>/delete/", views.comment_delete, name="comment_delete"),
    path("c/<int:pk>/like/", views.comment_like, name="comment_like"),
    path("c/<int:pk>/hide/", views.comment_hide, name="comment_hide"),
    path("u/<str:username>/", views.profile, name="profile"),
]
